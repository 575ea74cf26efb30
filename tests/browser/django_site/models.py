"""The chaos test's model: each saved note is auto-pushed to the channel it names."""

from django.db import models

import pushbridge


@pushbridge.broadcasts("{channel}", events={"created": "note.created"}, payload=["seq", "step"])
class ChaosNote(models.Model):
    channel = models.CharField(max_length=160)
    seq = models.PositiveIntegerField()
    step = models.PositiveIntegerField()
