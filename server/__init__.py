"""The courtroom server: app, hub, rules, routes, CLI."""
