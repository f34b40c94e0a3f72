with

customers as (

    select * from {{ ref('stg_bronze__customers') }}

),

orders as (

    select * from {{ ref('stg_bronze__orders') }}

),

customer_orders as (

    select
        customer_id,
        count(*) as order_count,
        count(*) filter (where is_paid) as paid_order_count,
        sum(amount_eur) filter (where is_paid) as revenue_eur,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at

    from orders

    group by customer_id

),

-- every current customer, with or without orders; orders of customers not (yet) in staging
-- have no row here and show up in daily_revenue only
final as (

    select
        customers.customer_id,
        customers.segment,
        customers.country_code,
        customers.signed_up_on,
        coalesce(customer_orders.order_count, 0) as order_count,
        coalesce(customer_orders.paid_order_count, 0) as paid_order_count,
        coalesce(customer_orders.revenue_eur, 0) as revenue_eur,
        customer_orders.first_ordered_at,
        customer_orders.last_ordered_at

    from customers

    left join customer_orders
        on customers.customer_id = customer_orders.customer_id

)

select * from final
