from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts.signals import scheduling_changed
        from gateway import scheduler

        # Account, group and membership changes drop the scheduler's cached candidates.
        scheduling_changed.connect(scheduler.on_scheduling_changed, dispatch_uid="scheduler-invalidate")
