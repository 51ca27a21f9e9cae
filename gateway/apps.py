from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from gateway import scheduler

        scheduler.connect_signals()  # account/group changes drop the scheduler's cached candidates
