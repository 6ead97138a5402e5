"""The in-app inbox channel: deliveries written into a Postgres inbox per tenant and recipient,
read by the product through the gateway's feed API and its `<tidings-inbox>` bell."""
