"""Channel workers: consume a channel's priority topics and deliver each ChannelMessage through
that channel's provider, reporting every outcome as a DeliveryEvent."""
