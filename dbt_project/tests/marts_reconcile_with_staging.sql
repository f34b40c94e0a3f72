{{ config(meta={"dagster": {"ref": {"name": "daily_revenue"}}}) }}

-- Both marts account for the paid revenue of staging exactly once: daily_revenue all of it,
-- customer_revenue the part whose customer is in staging. Returns a row when either is off.
with

orders as (

    select * from {{ ref('stg_bronze__orders') }}

),

customers as (

    select * from {{ ref('stg_bronze__customers') }}

),

expected as (

    select
        count(*) as order_count,
        coalesce(sum(orders.amount_eur) filter (where orders.is_paid), 0) as revenue_eur,
        coalesce(
            sum(orders.amount_eur) filter (where orders.is_paid and customers.customer_id is not null),
            0
        ) as known_customer_revenue_eur

    from orders

    left join customers
        on orders.customer_id = customers.customer_id

),

daily as (

    select
        coalesce(sum(order_count), 0) as order_count,
        coalesce(sum(revenue_eur), 0) as revenue_eur

    from {{ ref('daily_revenue') }}

),

per_customer as (

    select coalesce(sum(revenue_eur), 0) as revenue_eur

    from {{ ref('customer_revenue') }}

),

final as (

    select
        expected.*,
        daily.order_count as daily_order_count,
        daily.revenue_eur as daily_revenue_eur,
        per_customer.revenue_eur as customer_revenue_eur

    from expected
    cross join daily
    cross join per_customer

    where expected.order_count != daily.order_count
        or expected.revenue_eur != daily.revenue_eur
        or expected.known_customer_revenue_eur != per_customer.revenue_eur

)

select * from final
