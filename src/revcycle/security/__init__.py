"""Security monitoring: security events (sign-ins, denials, lockouts, unusual reads) and metrics."""
