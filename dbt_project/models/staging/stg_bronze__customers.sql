with

source as (

    select * from {{ source('current', 'customers') }}

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

    from source

)

select * from final
