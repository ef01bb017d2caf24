"""Synthesise SSML from stdin to a WAV file with the eSpeak NG library shipped by the PyPI
package ``espeakng-loader`` (no ``espeak-ng`` command needed).

Run as a child process by ``server.speech`` (never imported by the server: a fault in the C
library ends this process only)::

    python _espeak_lib.py --voice vi --rate 150 --out phrase.wav < phrase.ssml

Exit status 0 on success, 2 for a bad voice, 1 for anything else.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import wave

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
ESPEAK_SSML = 0x10
ESPEAK_RATE = 1  # espeak_PARAMETER espeakRATE

SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


def synthesise(text: str, voice: str, rate: int, out: str) -> int:
    import espeakng_loader  # optional: the wheel exists for x86_64 only (pyproject)

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int

    sample_rate = lib.espeak_Initialize(
        AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
    )
    if sample_rate <= 0:
        print("espeak_Initialize failed", file=sys.stderr)
        return 1
    chunks: list[bytes] = []

    @SYNTH_CALLBACK
    def on_audio(wav: ctypes._Pointer, n: int, _events: int) -> int:  # type: ignore[type-arg]
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, n * 2))
        return 0

    lib.espeak_SetSynthCallback(on_audio)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        print(f"no eSpeak NG voice {voice!r}", file=sys.stderr)
        return 2
    lib.espeak_SetParameter(ESPEAK_RATE, rate, 0)
    data = text.encode("utf-8") + b"\0"
    buf = ctypes.create_string_buffer(data)
    err = lib.espeak_Synth(
        buf, len(data), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8 | ESPEAK_SSML, None, None
    )
    if err != 0:
        print(f"espeak_Synth failed ({err})", file=sys.stderr)
        return 1
    lib.espeak_Synchronize()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(b"".join(chunks))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", required=True)
    ap.add_argument("--rate", type=int, default=150)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    text = sys.stdin.buffer.read().decode("utf-8")
    return synthesise(text, args.voice, args.rate, args.out)


if __name__ == "__main__":
    sys.exit(main())
