"""The Training page: the settings form, previews (learning rate, memory), the progress view."""
