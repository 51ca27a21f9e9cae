from django.urls import path, re_path

from gateway import views

# Paths served by the gateway's own request handler (config.asgi); everything under them speaks a provider's
# protocol. OpenAI's clients may call its endpoints without the /v1 prefix (spec §3.1).
PREFIXES = ("/v1/", "/v1beta/", "/antigravity/", "/chat/completions", "/responses")
SUBPATH = r"(?P<subpath>[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*)"

urlpatterns = [
    path("v1/messages", views.messages, name="gateway-messages"),
    path("v1/messages/count_tokens", views.count_tokens, name="gateway-count-tokens"),
    path("v1/chat/completions", views.chat_completions, name="gateway-chat-completions"),
    path("chat/completions", views.chat_completions),
    path("v1/responses", views.responses, name="gateway-responses"),
    path("responses", views.responses),
    re_path(rf"^(?:v1/)?responses/{SUBPATH}$", views.responses, name="gateway-responses-subpath"),
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
