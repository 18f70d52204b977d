"""Sample images while training, as sd-scripts makes them: the prompt file (``prompts``), when to sample
(``schedule``) and the renderer that uses the model being trained (``renderer``)."""
