"""Where receipts come from besides Twilio: AWS SNS messages (SES notifications, SMS delivery status)
and RFC 3464 bounce reports, each read into tracking.receipts.Receipt and handed to gateway/receipts.py."""
