"""Server-rendered pages and media: sign-in, the tracking and dossier pages, audio, QR codes,
speech, and the request language."""
