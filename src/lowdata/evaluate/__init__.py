"""Evaluation: classification and NER reports, confusion matrices."""
from .metrics import classification_report, ner_report, render_markdown, save_confusion_png

__all__ = ["classification_report", "ner_report", "render_markdown", "save_confusion_png"]
