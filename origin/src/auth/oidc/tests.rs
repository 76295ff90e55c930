//! Tests of the OIDC exchange.
