"""streamrec.serving: the Triton side of scoring.

``contract`` (tensor names and dtypes) is shared by ``client`` and the Triton
``model_repository/recommender/1/model.py``; ``launcher`` runs the tritonserver shipped in
``nvidia-pytriton`` locally; ``bench`` measures prefix caching. This package may import
``models``, never ``streams``. Importing it is cheap: submodules load torch or tritonclient
only when imported themselves.
"""
