"""GUI-free core of Image Lab: numpy, Pillow, onnxruntime, openTSNE.

Nothing here imports Qt or Orange's widgets; a test checks it.
"""
