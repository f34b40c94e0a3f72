"""A vendored copy of the OpenLineage core schema (``OpenLineage.json``, spec 2-0-2, Apache-2.0).

Used only when the shared spec folder (``../shared/openlineage-spec``) is absent, so a deployed
product can still validate events against the core schema. The openlineage-python package does
not ship the JSON schema files, hence this copy. Keep it byte-identical to the shared folder's
file (a test compares them).
"""
