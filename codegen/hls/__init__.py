"""The template backend: kernel graph (design.py), folding, FIFO depths, rendering and the project writer."""
