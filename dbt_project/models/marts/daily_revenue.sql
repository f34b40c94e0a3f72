with

orders as (

    select * from {{ ref('stg_bronze__orders') }}

),

final as (

    select
        ordered_on,
        currency_code,
        count(*) as order_count,
        cast(sum(item_count) as bigint) as item_count,
        count(*) filter (where is_paid) as paid_order_count,
        coalesce(sum(amount) filter (where is_paid), 0) as revenue,
        coalesce(sum(amount_eur) filter (where is_paid), 0) as revenue_eur

    from orders

    group by ordered_on, currency_code

)

select * from final
