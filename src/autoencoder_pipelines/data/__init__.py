"""The data layer: reading, validating, windowing and scaling tables, and the errors a user
fixes. pandas and numpy only: no torch at import, nothing of Kedro; it imports no other layer."""
