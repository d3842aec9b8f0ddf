"""Mailchimp Transactional (Mandrill): one-to-one email with a message id and delivery statuses,
a cascade channel (`channel.py`) for steps that need to know the message arrived."""
