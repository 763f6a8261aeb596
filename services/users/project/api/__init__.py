"""The users API: model, validation and views."""
