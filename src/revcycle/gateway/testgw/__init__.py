"""The built-in test gateway: "another system" living beside revcycle.

It owns its tables (``testgw_*``), its code (this package), a tokenisation API and card-form page
mounted as a separate sub-application (``/testgw``), and a webhook outbox. revcycle talks to it
only through :class:`revcycle.gateway.base.PaymentGateway` and signed webhooks.
"""
