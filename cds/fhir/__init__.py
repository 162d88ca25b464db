"""FHIR R4 at the edge: reading Bundles into findings, fetching, building the resources we send."""
