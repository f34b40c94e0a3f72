"""The provenance ledger checkpoint as an asset: signed after the other materializations.

A checkpoint is a C2SP signed note (Ed25519) over the ledger's size and Merkle root; anyone with
the public key verifies it offline (``python -m provenance.cli verify``), and every earlier
checkpoint must be consistent with it.
"""

from collections.abc import Sequence

import dagster as dg

from orchestration.resources import MaestroResource
from provenance.lineage import LineageSettings

CHECKPOINT_KEY = dg.AssetKey(["provenance", "ledger_checkpoint"])


def build_checkpoint_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=CHECKPOINT_KEY,
        deps=list(upstream),
        group_name="provenance",
        kinds={"ledger"},
        description="A signed checkpoint of the provenance ledger (OpenLineage events of every run): tree "
        "size, Merkle root (RFC 6962) and the Ed25519-signed note. Verify with "
        "`python -m provenance.cli verify <ledger> --key <vkey>`.",
    )
    def ledger_checkpoint(
        context: dg.AssetExecutionContext, maestro: MaestroResource
    ) -> dg.MaterializeResult:
        ls = LineageSettings.from_settings(maestro.settings())
        with ls.open_ledger() as ledger:
            signed = ledger.checkpoint()
            vkey = ledger.verifier.vkey
        cp = signed.checkpoint
        context.log.info(f"ledger checkpoint {signed.number}: size {cp.size}, root {cp.root.hex()}")
        return dg.MaterializeResult(
            metadata={
                "tree_size": cp.size,
                "root_hash": cp.root.hex(),
                "checkpoint_number": signed.number,
                "checkpoint": dg.MetadataValue.md("```\n" + signed.note.decode() + "```"),
                "verifier_key": vkey,
                "ledger": dg.MetadataValue.path(str(ls.ledger_dir)),
            }
        )

    return ledger_checkpoint
