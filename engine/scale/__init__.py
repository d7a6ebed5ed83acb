"""Running ResLens on the distributed engines its users already operate (Ray Data).

Above training and inference, below cli. Ray is imported only inside the functions that use
it, so importing the engine (or this package) never imports Ray; ``pip install reslens[cluster]``
brings it.
"""
