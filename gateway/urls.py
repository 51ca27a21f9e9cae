from django.urls import path, re_path

from gateway import views

# Paths served by the gateway's own request handler (config.asgi); everything under them speaks a provider's protocol.
PREFIXES = ("/v1/", "/v1beta/", "/antigravity/")

urlpatterns = [
    path("v1/messages", views.messages, name="gateway-messages"),
    path("v1/messages/count_tokens", views.count_tokens, name="gateway-count-tokens"),
    path("v1/models", views.models, name="gateway-models"),
    # Google's API under its two versions: `models/{model}:{action}` (a model name has no '/' or ':').
    re_path(r"^v1(?:beta)?/models/(?P<model>[^/:]+):(?P<action>[A-Za-z]+)$", views.gemini_action,
            name="gateway-gemini-action"),
    path("v1/models/<str:model>", views.model, name="gateway-model"),
    path("v1beta/models", views.gemini_models, name="gateway-gemini-models"),
    path("v1beta/models/<str:model>", views.gemini_model, name="gateway-gemini-model"),
    path("v1/usage", views.usage, name="gateway-usage"),
    path("api/event_logging/batch", views.event_logging, name="gateway-event-logging"),
    path("api/hello", views.hello, name="gateway-hello"),
    path("", views.root, name="gateway-root"),
]
