"""Payment gateways: the interface revcycle talks to (base.py) and the built-in test gateway
(testgw/), which plays "another system" with its own tables, tokenisation page and webhooks."""
