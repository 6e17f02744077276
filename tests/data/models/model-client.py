#!/usr/bin/env python3
"""The clients of the end-to-end tests: the real `openai` Python SDK against an
OpenAI-compatible server (a chat completion, a streamed one, an embedding), and Ollama's
documented HTTP API (list models, then a streamed chat) as Ollama's own clients call it.
Prints one line per call; exits non-zero if a call fails."""

import json
import sys
import urllib.request

from openai import OpenAI


def ollama(base):
    with urllib.request.urlopen(base + "/api/tags", timeout=10) as r:
        models = json.load(r)["models"]
    print("ollama tags", len(models))
    request = urllib.request.Request(
        base + "/api/chat",
        data=json.dumps({"model": "tiny:1b", "messages": [
            {"role": "user", "content": "What is the answer?"}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        text = "".join(json.loads(line).get("message", {}).get("content", "")
                       for line in r if line.strip())
    print("ollama chat", text)


def openai_compatible(base):
    client = OpenAI(base_url=base + "/v1", api_key="sk-lab-secret-key", max_retries=0)
    reply = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "What is the answer?"}])
    print("openai chat", reply.choices[0].message.content)
    stream = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Stream it."}], stream=True)
    print("openai stream", "".join(c.choices[0].delta.content or "" for c in stream))
    emb = client.embeddings.create(model="tiny", input="customer record 4711")
    print("openai embedding", len(emb.data[0].embedding))


if __name__ == "__main__":
    which, base = sys.argv[1], sys.argv[2]
    {"ollama": ollama, "openai": openai_compatible}[which](base)
