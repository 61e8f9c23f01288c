"""Context settings that stay small on wide tables.

Orange's ``DomainContextHandler`` stores, with every context, the name and
type of every column of the input, so that the next input can be matched
to it. After an embedding that is 1,001 columns, about 27 KB per context in
the saved workflow, for a widget that uses one categorical column.
``CategoricalContextHandler`` stores and matches the categorical columns
only (the ones such widgets can choose); a context still matches when the
chosen column is there with the same name and type.

    settingsHandler = CategoricalContextHandler()
    by_column: Optional[DiscreteVariable] = ContextSetting(None)
    settings_version = 2

    @classmethod
    def migrate_context(cls, context, version):
        if version is None or version < 2:
            CategoricalContextHandler.shrink(context)   # contexts of older workflows
"""
from Orange.data import DiscreteVariable
from Orange.widgets.settings import Context, DomainContextHandler

__all__ = ["CategoricalContextHandler", "LabelColumnsContextHandler"]

_DISCRETE = 1  # Orange.widgets.utils.vartype of a DiscreteVariable
_CONTINUOUS = 2


class CategoricalContextHandler(DomainContextHandler):
    """A ``DomainContextHandler`` for widgets whose context settings are
    categorical columns: it encodes and matches those columns only."""

    def encode_domain(self, domain):
        attributes, metas = super().encode_domain(domain)
        categorical = {var.name for var in domain.variables + domain.metas
                       if isinstance(var, DiscreteVariable)}
        return ({name: kind for name, kind in attributes.items() if name in categorical},
                {name: kind for name, kind in metas.items() if name in categorical})

    @staticmethod
    def shrink(context: Context) -> None:
        """Drop the non-categorical columns from a context stored by Orange's
        ``DomainContextHandler`` (a type code 1 or a list of values is categorical)."""
        for part in ("attributes", "metas"):
            columns = getattr(context, part, None)
            if isinstance(columns, dict):
                setattr(context, part, {name: kind for name, kind in columns.items()
                                        if kind == _DISCRETE or isinstance(kind, list)})


class LabelColumnsContextHandler(DomainContextHandler):
    """A ``DomainContextHandler`` for widgets that choose among the class and
    meta columns (image, label, colour), never the features: it encodes and
    matches the class and metas only, not the embedding's 1,000 features."""

    def encode_domain(self, domain):
        attributes, metas = super().encode_domain(domain)
        classes = {var.name for var in domain.class_vars}
        return {name: kind for name, kind in attributes.items() if name in classes}, metas

    @staticmethod
    def shrink(context: Context) -> None:
        """Drop the numeric features from a context stored by Orange's
        ``DomainContextHandler`` (a continuous class goes too: such a context
        then matches no more, and the widget starts from its defaults)."""
        columns = getattr(context, "attributes", None)
        if isinstance(columns, dict):
            context.attributes = {name: kind for name, kind in columns.items()
                                  if kind != _CONTINUOUS}
