"""Creating group-deal campaigns (part of :class:`eduengine.deals.DealService`)."""

from __future__ import annotations

from datetime import datetime

from eduengine.deals.model import GroupDealCampaign
from eduengine.deals.records import CAMPAIGNS
from eduengine.errors import DuplicateId, InvalidInput
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase


class CampaignService(ServiceBase):
    """Creates campaigns."""

    def create_campaign(self, campaign: GroupDealCampaign) -> None:
        if not isinstance(campaign, GroupDealCampaign):
            raise InvalidInput(f"expected a GroupDealCampaign, got {campaign!r}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(CAMPAIGNS, campaign.id) is not None:
                raise DuplicateId(f"campaign {campaign.id!r} already exists")
            uow.records.put(CAMPAIGNS, campaign.id, campaign.to_record())

        self._run(command)
