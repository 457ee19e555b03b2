"""Server-rendered web UI (Jinja2): sign-in with the TOTP step, home, password, two-factor."""
