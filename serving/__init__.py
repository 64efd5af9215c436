"""streamrec.serving: the Triton side of scoring and summarizing.

``contract`` (tensor names and dtypes) is shared by the clients (``client`` for the
``recommender``, ``summarizer_client`` for the ``summarizer``) and the Triton models under
``model_repository/<model>/1/``; ``launcher`` runs the tritonserver shipped in
``nvidia-pytriton`` locally; ``bench/`` holds the benchmarks (``bench.scoring``: prefix
caching, ``bench.summarizer``: summary throughput). This package may import ``models``, never
``streams``. Importing it is cheap: submodules load torch or tritonclient only when imported
themselves.
"""
