#!/usr/bin/env python3
"""A small model server of our own for the end-to-end tests: it speaks the documented
request and response shapes of Ollama's API (https://docs.ollama.com/api: /api/tags,
/api/chat and /api/generate streaming NDJSON, /api/embed) and of the OpenAI-compatible API
(https://platform.openai.com/docs/api-reference: /v1/models, /v1/chat/completions with and
without server-sent events, /v1/embeddings), answering with canned tokens. With --hub it
instead serves --hub-bytes bytes for any GET over TLS, as a model hub's file CDN does.

Standard library only; one process per port."""

import argparse
import json
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKENS = ["The", " answer", " is", " forty", "-two", "."]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub_bytes = 0

    def log_message(self, *args):
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def send_json(self, value, status=200):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, content_type, pieces):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        if self.hub_bytes:
            block = b"\0" * 65536
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(self.hub_bytes))
            self.end_headers()
            left = self.hub_bytes
            while left > 0:
                n = min(left, len(block))
                self.wfile.write(block[:n])
                left -= n
            return
        if self.path == "/api/tags":
            self.send_json({"models": [{"name": "tiny:1b", "model": "tiny:1b", "size": 1}]})
        elif self.path == "/v1/models":
            self.send_json({"object": "list", "data": [
                {"id": "tiny", "object": "model", "created": 0, "owned_by": "lab"}]})
        else:
            self.send_json({"error": "not found"}, 404)

    def do_POST(self):
        request = self.body()
        model = request.get("model", "tiny")
        if self.path in ("/api/chat", "/api/generate"):
            chat = self.path == "/api/chat"
            lines = []
            for t in TOKENS:
                piece = {"model": model, "done": False}
                if chat:
                    piece["message"] = {"role": "assistant", "content": t}
                else:
                    piece["response"] = t
                lines.append(json.dumps(piece).encode() + b"\n")
            lines.append(json.dumps({"model": model, "done": True}).encode() + b"\n")
            self.stream("application/x-ndjson", lines)
        elif self.path == "/api/embed":
            self.send_json({"model": model, "embeddings": [[0.1, 0.2, 0.3]]})
        elif self.path == "/v1/chat/completions":
            if request.get("stream"):
                events = []
                for t in TOKENS:
                    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                             "model": model, "choices": [{"index": 0, "delta": {"content": t},
                                                          "finish_reason": None}]}
                    events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                events.append(b"data: [DONE]\n\n")
                self.stream("text/event-stream", events)
            else:
                self.send_json({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "".join(TOKENS)}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9},
                })
        elif self.path == "/v1/embeddings":
            self.send_json({"object": "list", "model": model,
                            "data": [{"object": "embedding", "index": 0,
                                      "embedding": [0.1, 0.2, 0.3]}],
                            "usage": {"prompt_tokens": 1, "total_tokens": 1}})
        else:
            self.send_json({"error": "not found"}, 404)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True, help="ADDRESS:PORT")
    parser.add_argument("--hub-bytes", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    Handler.hub_bytes = args.hub_bytes
    server = ThreadingHTTPServer((host, int(port)), Handler)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
