"""Copy-paste snippets for calling the gateway: the anthropic and openai SDKs, Claude Code and curl, with
the portal's own address as the base URL and the key filled in (its secret when the page has it, right
after creating or resetting it; otherwise a placeholder naming the key)."""

from dataclasses import dataclass

from django.utils.translation import pgettext_lazy

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}


@dataclass(frozen=True)
class Snippet:
    slug: str
    title: str
    language: str
    text: str


def base_url(request) -> str:
    """The address this portal is served at: clients call the gateway at the same host."""
    return request.build_absolute_uri("/").rstrip("/")


def for_key(request, key, secret: str | None) -> list[Snippet]:
    url = base_url(request)
    token = secret or f"<{key.prefix}…>"
    platform = key.group.platform if key.group else "anthropic"
    model = DEFAULT_MODELS.get(platform, DEFAULT_MODELS["anthropic"])
    claude_model = model if platform == "anthropic" else DEFAULT_MODELS["anthropic"]
    openai_model = model if platform == "openai" else DEFAULT_MODELS["openai"]
    return [
        Snippet("anthropic", pgettext_lazy("portal", "Anthropic SDK (Python)"), "python", (
            "import anthropic\n\n"
            "client = anthropic.Anthropic(\n"
            f'    base_url="{url}",\n'
            f'    api_key="{token}",\n'
            ")\n"
            "reply = client.messages.create(\n"
            f'    model="{claude_model}", max_tokens=256,\n'
            '    messages=[{"role": "user", "content": "Hello"}],\n'
            ")\n"
            "print(reply.content[0].text)\n"
        )),
        Snippet("openai", pgettext_lazy("portal", "OpenAI SDK (Python)"), "python", (
            "from openai import OpenAI\n\n"
            "client = OpenAI(\n"
            f'    base_url="{url}/v1",\n'
            f'    api_key="{token}",\n'
            ")\n"
            "reply = client.chat.completions.create(\n"
            f'    model="{openai_model}",\n'
            '    messages=[{"role": "user", "content": "Hello"}],\n'
            ")\n"
            "print(reply.choices[0].message.content)\n"
        )),
        Snippet("claude-code", pgettext_lazy("portal", "Claude Code"), "sh", (
            f"export ANTHROPIC_BASE_URL={url}\n"
            f"export ANTHROPIC_AUTH_TOKEN={token}\n"
            "claude\n"
        )),
        _curl(url, token, platform, claude_model, openai_model),
    ]


def _curl(url: str, token: str, platform: str, claude_model: str, openai_model: str) -> Snippet:
    """Raw HTTP in the key's own dialect: Chat Completions for an OpenAI group, Messages otherwise."""
    hello = '"messages": [{"role": "user", "content": "Hello"}]'
    if platform == "openai":
        text = (f"curl {url}/v1/chat/completions \\\n"
                f'  -H "Authorization: Bearer {token}" \\\n'
                '  -H "content-type: application/json" \\\n'
                f"  -d '{{\"model\": \"{openai_model}\", {hello}}}'\n")
    else:
        text = (f"curl {url}/v1/messages \\\n"
                f'  -H "x-api-key: {token}" \\\n'
                '  -H "anthropic-version: 2023-06-01" \\\n'
                '  -H "content-type: application/json" \\\n'
                f"  -d '{{\"model\": \"{claude_model}\", \"max_tokens\": 256, {hello}}}'\n")
    return Snippet("curl", pgettext_lazy("portal", "curl"), "sh", text)
