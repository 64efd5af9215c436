"""The real packaged SmolLM2-135M-Instruct writes a summary through Triton, reproducibly.

The only test that runs the production summarizer. Quality is not asserted (a 135M model is
a weak summarizer); what the streaming side relies on is: English text comes back, and the
same prompt gives the same text, alone or next to another prompt in one request (the
deletion rebuild compares a rebuilt chain with the stored one).
"""

import asyncio
import re

from models.summary_prompts import recurrent_prompt
from models.types import HistoryEntry, ItemText
from serving.launcher import TritonServer
from serving.summarizer_client import SummarizerClient, SummaryResult


def prompts() -> list[str]:
    movies = [
        ("Heat (1995)", ("Action", "Crime", "Thriller"), "rating", 4.5),
        ("Usual Suspects, The (1995)", ("Crime", "Mystery", "Thriller"), "rating", 5.0),
        ("Babe (1995)", ("Children", "Drama"), "rating", 1.5),
        ("Casino (1995)", ("Crime", "Drama"), "like", None),
        ("Toy Story (1995)", ("Adventure", "Animation", "Children", "Comedy"), "dislike", None),
    ]
    block = [
        HistoryEntry(ItemText(f"m{i}", title, genres), kind, rating, i)
        for i, (title, genres, kind, rating) in enumerate(movies)
    ]
    previous = (
        "The user enjoys tense crime dramas from the 1990s and rates them highly. "
        "They dislike films made for children."
    )
    return [recurrent_prompt(None, block), recurrent_prompt(previous, block)]


def test_smollm2_summary_is_english_and_reproducible(smollm2_triton_server: TritonServer) -> None:
    first, update = prompts()

    async def run() -> tuple[SummaryResult, SummaryResult]:
        client = SummarizerClient(smollm2_triton_server.grpc_url)
        try:
            together = await client.summarize([first, update])
            alone = await client.summarize([update])
            return together, alone
        finally:
            await client.close()

    together, alone = asyncio.run(run())
    assert together.model_name == "summarizer/SmolLM2-135M-Instruct"
    for text in together.texts:
        words = re.findall(r"[A-Za-z]+", text)
        assert len(words) >= 3, text
        assert len(text) <= 1500  # 96 new tokens cannot get near the prompt's summary cap
    assert alone.texts == [together.texts[1]]
