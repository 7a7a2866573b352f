"""The neurocc text network language (``.ncl``): a lark grammar, the parser and the printer."""
