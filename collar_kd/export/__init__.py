"""Export: integer-only C (model headers + runtime), golden vectors and a manifest per device."""
