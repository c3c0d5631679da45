"""Notifications of registry events by e-mail and signed webhooks: a registry event listener, apart from the web UI.

    settings.py       EmailSettings, WebhookSettings, EVENT_KINDS; what the notifier reads (NotificationSettings)
    events.py         which history entries people hear about (event_kind) and what they are told (Event)
    sinks.py          EmailSink (SMTP) and WebhookSink (signed JSON POSTs), each retrying as configured
    destinations.py   which addresses webhooks may connect to, checked on each connection
    notifier.py       Notifier (a ModelRegistry.subscribe listener, one background thread per sink) and Watcher
                      (finds entries that other processes wrote)

The web UI (`model-registry ui`) runs a Notifier with the sinks its configuration names; nothing here imports the
web package, and importing this package imports nothing of it.
"""
