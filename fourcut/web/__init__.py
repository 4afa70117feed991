"""
Every transport fourcut serves on its one port: the seed's HTTP API and
its page (L{fourcut.web.live}), seed 001's REST endpoints
(L{fourcut.web.rest}) and WebSocket protocol (L{fourcut.web.ws}), the saved
photos (L{fourcut.web.gallery}), and what guards them: the access token
(L{fourcut.web.access}) and the connection limits (L{fourcut.web.limits}).
"""
