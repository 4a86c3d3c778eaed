"""OpenRouter's image API: one client, two routes, a typed error tree, billing-aware retries."""
