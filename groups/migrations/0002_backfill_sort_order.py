"""S6: groups that existed before drag-and-drop ordering keep their creation order (sort_order = id)."""

from django.db import migrations
from django.db.models import F


def backfill(apps, schema_editor):
    Group = apps.get_model("groups", "Group")
    Group.objects.filter(sort_order=0).update(sort_order=F("id"))


class Migration(migrations.Migration):
    dependencies = [("groups", "0001_initial")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
