with

source as (

    select * from {{ source('bronze', 'customers') }}

),

-- bronze keeps every ingested version of an account; the current one is the latest
-- (_manifest_id only breaks ties that the documented rule leaves open, so reruns agree)
latest as (

    select *
    from source
    qualify row_number() over (
        partition by customer_id
        order by _ingested_at desc, _source_row desc, _manifest_id desc
    ) = 1

),

final as (

    select

        ---------- ids
        customer_id,

        ---------- text
        email,
        full_name as customer_name,
        country as country_code,
        segment,

        ---------- numerics
        credit_limit as credit_limit_eur,

        ---------- dates
        signup_date as signed_up_on,

        ---------- provenance
        _ingested_at as ingested_at,
        _manifest_id as manifest_id,
        _source_uri as source_uri,
        _source_row as source_row,
        _contract_version as contract_version

    from latest

)

select * from final
