"""Alerts: incidents opened and cleared from the health signals (connector/observe.py), each told
once to every configured channel (email, Telegram, a JSON webhook) when it opens and once when it
clears, and a digest of new dead letters per interval. See docs/alerts.md.

- `rules.py`: the conditions, from the signals and the thresholds in the settings;
- `evaluate.py`: one evaluation (run by the scheduler every minute: jobs/alerts.py);
- `channels.py`: the channels and their sends, with short time-outs;
- `messages.py`: the texts, masked;
- `refusals.py`: the durable count of refused webhook deliveries;
- `status.py`: what `connector alerts status` and the console show.
"""
