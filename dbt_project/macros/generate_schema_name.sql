{#-
    Models land in the schema their folder configures (staging, marts, seeds), not dbt's default
    "<target schema>_<custom schema>": analysts query the catalog by those plain names.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
