"""The router: reads NotificationEvents from the priority event topics and fans each out to one
ChannelMessage per requested channel (plus a `queued` DeliveryEvent)."""
