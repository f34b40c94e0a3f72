with

source as (

    select * from {{ source('current', 'orders') }}

),

fx_rates as (

    select * from {{ ref('fx_rates') }}

),

renamed as (

    select

        ---------- ids
        order_id,
        customer_id,

        ---------- text
        status as order_status,
        currency as currency_code,

        ---------- numerics
        -- money as decimal so that sums are exact; amounts carry cents only
        cast(amount as decimal(18, 2)) as amount,
        quantity as item_count,

        ---------- booleans
        -- the shop has taken the money: placed orders are unpaid, cancelled and returned refunded
        status in ('paid', 'shipped', 'delivered') as is_paid,

        ---------- timestamps
        ordered_at,
        cast(timezone('UTC', ordered_at) as date) as ordered_on,

        ---------- provenance
        _ingested_at as ingested_at,
        _manifest_id as manifest_id,
        _source_uri as source_uri,
        _source_row as source_row,
        _contract_version as contract_version

    from source

),

final as (

    select
        renamed.*,
        -- converted per order and rounded to the cent, as an invoice would be
        cast(round(renamed.amount * fx_rates.rate_to_eur, 2) as decimal(18, 2)) as amount_eur

    from renamed

    left join fx_rates
        on renamed.currency_code = fx_rates.currency

)

select * from final
