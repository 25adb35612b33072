"""WebSocket media streams: one aiohttp transport, one serializer per wire format."""
